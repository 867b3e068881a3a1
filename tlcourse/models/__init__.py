"""The models of the course: backbones and their weights, classifiers, ImageNet, Grad-CAM."""

__all__: list[str] = []
