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
