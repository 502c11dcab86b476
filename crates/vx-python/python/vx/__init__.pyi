from ._vx import (
    Frame as Frame,
    InputError as InputError,
    NoStreamError as NoStreamError,
    VxError as VxError,
    __version__ as __version__,
    audio as audio,
    keyframes as keyframes,
    probe as probe,
)
