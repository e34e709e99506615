"""ssld-eval: does this backbone, often a distilled one, transfer better?

The package holds the CLI, the built-in data, the backbone loader, the transfer tasks, the results store
and the reports. Distillation lives in the sibling package ``distill``, which never imports this one.
"""

__version__ = "0.3.0"
