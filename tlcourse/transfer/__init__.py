"""The lesson: group a backbone's layers, freeze them, give each group its own learning rate,
fine-tune, find a learning rate, check the setup, and cache what is frozen.

:mod:`~tlcourse.transfer.groups`, :mod:`~tlcourse.transfer.freezing`,
:mod:`~tlcourse.transfer.optimizers`, :mod:`~tlcourse.transfer.fine_tune`,
:mod:`~tlcourse.transfer.lr_find`, :mod:`~tlcourse.transfer.diagnostics`,
:mod:`~tlcourse.transfer.boundary`.
"""

__all__: list[str] = []
