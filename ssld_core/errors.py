"""Which exceptions are the user's input and which are bugs, for the commands' exit codes.

Exit codes, the same for every command: 0 done; 1 a run failed (a diverged distillation, a task that
produced no number) or a bug (an unexpected exception, printed with its traceback); 2 bad input (a file,
key or value at fault, named in one line). The distinction is made by where an exception was raised: a
``ValueError`` that ssld-eval's own code raises is about the input it was given (and names it); one raised
inside torch, timm or mmengine is not ours to explain, so it keeps its traceback instead of being printed as
"error: ..." and mistaken for a typo.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_OURS = tuple(str(Path(__file__).resolve().parent.parent / name) for name in ("distill", "ssld_eval", "ssld_core"))


def raised_by_us(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in distill, ssld_eval or ssld_core."""
    tb = exc.__traceback__
    if tb is None:
        return True  # constructed, never raised: ours
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(_OURS)
