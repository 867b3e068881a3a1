"""The models of the course: pretrained backbones and their weights, the small CNN and the
transfer classifier, ImageNet predictions and Grad-CAM.

Each idea has its module: :mod:`~tlcourse.models.backbones` (the registry),
:mod:`~tlcourse.models.weights` (files, caches, conversions),
:mod:`~tlcourse.models.classifiers`, :mod:`~tlcourse.models.imagenet`,
:mod:`~tlcourse.models.grad_cam`.
"""

__all__: list[str] = []
