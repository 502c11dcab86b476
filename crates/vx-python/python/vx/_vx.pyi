"""Type stubs of the native module (crates/vx-python/src/lib.rs)."""
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, "os.PathLike[str]"]

class VxError(Exception):
    """An error of vx. The message names the file and the cause, on one line."""

class InputError(VxError):
    """The input cannot be read: missing, not media, damaged, an unsupported codec."""

class NoStreamError(VxError):
    """The input has no stream of the kind asked for (no video stream, no audio stream)."""

class Frame:
    """A decoded picture, upright; converted to RGB only by `array()`."""

    @property
    def time(self) -> Optional[float]:
        """Seconds on the file's timeline (container start subtracted)."""
    @property
    def index(self) -> int:
        """Position among the frames returned."""
    @property
    def key(self) -> bool:
        """Whether the decoder flagged the frame as a keyframe."""
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    def array(self) -> npt.NDArray[np.uint8]:
        """RGB, shape (height, width, 3): the pixels `vx keyframes --format png` writes."""

def probe(path: PathLike) -> Dict[str, Any]:
    """Container and stream metadata, as `vx probe` prints it."""

def keyframes(
    path: PathLike, *, max_side: Optional[int] = None, every: Optional[float] = None
) -> List[Frame]:
    """The keyframes of a video, or one frame every `every` seconds; a still gives one."""

def audio(path: PathLike, rate: int = 16000, channels: int = 1) -> npt.NDArray[np.float32]:
    """The audio resampled to `rate` Hz: shape (samples,) or (samples, channels)."""

class Pipeline:
    """Operations over files in one pass each (`vx run --ops`), models loaded once and reused.
    Thread-safe (one run at a time); pickled by its parameters."""

    def __init__(
        self,
        ops: str = "keyframes;[detect,faces];transcribe",
        models: Optional[Dict[str, str]] = None,
        threads: int = 0,
        threshold: float = 0.5,
    ) -> None: ...
    def run(self, path: PathLike, output: Optional[PathLike] = None) -> Dict[str, Any]:
        """`vx run PATH -o OUTPUT` for one file: its result.json record, plus `dir` (where the
        files it lists are). Without `output`, a new temporary directory that is the caller's
        to remove (removed when the call fails). Ctrl-C stops it (KeyboardInterrupt)."""

def run(
    path: PathLike,
    ops: str = "keyframes;[detect,faces];transcribe",
    models: Optional[Dict[str, str]] = None,
    output: Optional[PathLike] = None,
    threads: int = 0,
) -> Dict[str, Any]:
    """One file through a new Pipeline (models loaded for this call only)."""

def tables() -> List[Tuple[str, List[Tuple[str, str]]]]:
    """The tables of vx's results (as `vx run --format parquet` writes them): (name,
    [(column, type)]) with types "string", "float64", "int64", "bool"; `files` first."""

def files_row(path: str, record: str) -> Dict[str, Any]:
    """The `files` row of an input from its record (`result.json`) as JSON text."""

def kind_rows(output: PathLike, id: str) -> Dict[str, List[Dict[str, Any]]]:
    """The rows of every table after `files` for one finished input, read from output/<id>/."""
