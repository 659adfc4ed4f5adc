"""The simulator's one refusal type, answered in Cloudinary's error shape."""

from __future__ import annotations


class CloudinaryApiError(Exception):
    """An answer in Cloudinary's error shape: ``{"error": {"message": ...}}`` with ``status``.

    The SDK raises it by status: 400 ``BadRequest``, 401 ``AuthorizationRequired``, 403
    ``NotAllowed``, 404 ``NotFound``, 409 ``AlreadyExists``, 420/429 ``RateLimited``.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


__all__ = ["CloudinaryApiError"]
