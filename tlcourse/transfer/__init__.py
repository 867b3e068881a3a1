"""The lesson: grouping, freezing, per-group learning rates, fine-tuning, lr_find, checks."""

__all__: list[str] = []
