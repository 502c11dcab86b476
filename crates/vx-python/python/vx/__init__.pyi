from ._vx import (
    Frame as Frame,
    Pipeline as Pipeline,
    InputError as InputError,
    NoStreamError as NoStreamError,
    VxError as VxError,
    __version__ as __version__,
    audio as audio,
    keyframes as keyframes,
    probe as probe,
    run as run,
)

from typing import Any, Dict, Optional
import os

def arrow(record: Dict[str, Any], output: "str | os.PathLike[str]", path: Optional[str] = None) -> Dict[str, Any]:
    """The tables of one `vx.run` record (pyarrow.Table each): files, keyframes, detections,
    segments, text."""
