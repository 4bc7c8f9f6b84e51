"""What one ``POST /predict`` holds, read within the limits: the body (never further than its size limit), then its
texts or decoded images. Over a limit is ``TooLarge`` (HTTP 413), anything else wrong a ``HeadstartError`` (400);
both say what to send instead."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from headstart.data.images import MAX_IMAGE_PIXELS, ImageTooLarge, decode_image
from headstart.errors import HeadstartError


class TooLarge(HeadstartError):
    """A request over one of the limits (HTTP 413)."""


def too_large(exc: Exception) -> bool:
    return isinstance(exc, TooLarge | ImageTooLarge)


@dataclass(frozen=True)
class Limits:
    """What one request may hold: bytes, inputs, pixels per image and in all, characters per text."""

    max_request_mb: float = 20.0
    max_inputs: int = 64
    max_pixels: int = 40_000_000
    max_total_pixels: int = 100_000_000
    max_text_chars: int = 20_000

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 2**20)


DEFAULT_LIMITS = Limits()
# The ranges `headstart serve` checks each limit against (Pillow refuses images over MAX_IMAGE_PIXELS itself).
LIMIT_RANGES = {"max_request_mb": (float, 0.0, 4096.0), "max_inputs": (int, 1, 100_000),
                "max_pixels": (int, 1, MAX_IMAGE_PIXELS), "max_total_pixels": (int, 1, 10_000_000_000),
                "max_text_chars": (int, 1, 10_000_000)}


async def read_body(request: Request, limits: Limits) -> bytes:
    """The request body, read no further than the size limit (a declared length is checked before reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise TooLarge(f"the request is {int(declared) / 2**20:.1f} MB, over the {limits.max_request_mb:g} MB limit "
                       "(--max-request-mb); send fewer or smaller inputs per request")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_request_bytes:
                raise TooLarge(f"the request is over the {limits.max_request_mb:g} MB limit (--max-request-mb); send "
                               "fewer or smaller inputs per request")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise HeadstartError("the client disconnected before the request was sent whole") from exc
    return b"".join(chunks)


async def raw_inputs(request: Request, body: bytes, reads_text: bool, model: str,
                     limits: Limits) -> tuple[list[str], list[Any]]:
    """(names, texts or undecoded image bytes) of the request, counted against the limits: the cheap part, on the
    event loop. ``decode`` does the rest in a thread."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        if reads_text:
            raise HeadstartError(f"model '{model}' reads texts; send JSON {{\"texts\": [...]}}")
        uploads = await _form_files(request, body, limits)
        return [name for name, _ in uploads], [data for _, data in uploads]
    if kind != "application/json":
        raise HeadstartError(f"unsupported content type '{kind or 'none'}'; send multipart/form-data (image files) or "
                             "application/json (texts or base64 images)")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HeadstartError(f"the request body is not valid JSON ({type(exc).__name__})") from exc
    key, other = ("texts", "images") if reads_text else ("images", "texts")
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        hint = f" (model '{model}' reads {key}, not {other})" if isinstance(payload, dict) and other in payload else ""
        raise HeadstartError(f"send JSON {{\"{key}\": [...]}}{hint}")
    values = payload[key]
    _check_count(len(values), limits)
    if reads_text:
        return _texts(values, limits)
    names = [f"image {i}" for i in range(len(values))]
    return names, [_base64(value, name) for name, value in zip(names, values, strict=True)]


def decode(names: list[str], blobs: list[bytes], limits: Limits) -> list[Any]:
    """Uploaded image bytes as RGB images, each and all together within the pixel limits (run in a thread)."""
    images, total = [], 0
    for name, blob in zip(names, blobs, strict=True):
        image = decode_image(blob, name, limits.max_pixels)
        total += image.width * image.height
        if total > limits.max_total_pixels:
            raise TooLarge(f"the request's images hold over {limits.max_total_pixels:,} pixels together "
                           "(--max-total-pixels); send fewer or smaller images per request")
        images.append(image)
    return images


def _check_count(count: int, limits: Limits) -> None:
    if count == 0:
        raise HeadstartError("the request holds no inputs; send at least one")
    if count > limits.max_inputs:
        raise TooLarge(f"the request holds {count} inputs, over the limit of {limits.max_inputs} (--max-inputs); "
                       "split it into several requests")


def _texts(values: list, limits: Limits) -> tuple[list[str], list[str]]:
    for i, text in enumerate(values):
        if not isinstance(text, str) or not text.strip():
            raise HeadstartError(f"text {i} is {'empty' if isinstance(text, str) else 'not a string'}; send texts "
                                 "to classify")
        if len(text) > limits.max_text_chars:
            raise TooLarge(f"text {i} has {len(text):,} characters, over the limit of {limits.max_text_chars:,} "
                           "(--max-text-chars); send a shorter text")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate (JSON "\ud800") the tokenizer cannot take
            raise HeadstartError(f"text {i} is not valid Unicode ({exc.reason}); send UTF-8 text") from exc
    return list(values), list(values)


def _base64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise HeadstartError(f"{name} is not a base64 string; send each image's file bytes in base64")
    data = value.partition(",")[2] if value.startswith("data:") else value  # a data: URL's payload
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HeadstartError(f"{name} is not valid base64 ({exc})") from exc


async def _form_files(request: Request, body: bytes, limits: Limits) -> list[tuple[str, bytes]]:
    """The uploaded files of a multipart body: (the name as sent, used only to label the row; the bytes)."""

    async def replay() -> dict:  # the body was read already, under the size limit
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        # Starlette's own count limits stay out of the way (the body size bounds them): --max-inputs decides.
        form = await Request(request.scope, replay).form(max_files=1_000_000, max_fields=1_000_000)
    except Exception as exc:  # python-multipart's parse errors and Starlette's alike
        raise HeadstartError(f"cannot read the multipart body ({getattr(exc, 'detail', exc)})") from exc
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise HeadstartError("the multipart request holds no files; send images as 'files'")
    _check_count(len(files), limits)
    return [(upload.filename or f"file {i}", await upload.read()) for i, upload in enumerate(files)]
