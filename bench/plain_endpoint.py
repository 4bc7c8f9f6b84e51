"""The first recipe people write to serve a PyTorch classifier: FastAPI, one synchronous endpoint, the model called
once per request (uvicorn runs it in its thread pool). bench/serve_load.py measures it beside `headstart serve`.

    RUN=runs/... uvicorn bench.plain_endpoint:app --port 8001
"""

from __future__ import annotations

import io
import os
from typing import Annotated

import torch
from fastapi import FastAPI, File, UploadFile
from PIL import Image

import headstart
from headstart.tasks.image import image_transform

classifier = headstart.load(os.environ["RUN"])
model = classifier.model_.eval()
transform = image_transform(classifier.preprocessing_, train=False)
classes = [str(c) for c in classifier.classes_]
app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/predict")
def predict(files: Annotated[UploadFile, File()]) -> dict:
    image = Image.open(io.BytesIO(files.file.read())).convert("RGB")
    with torch.inference_mode():
        probabilities = model(transform(image).unsqueeze(0)).softmax(1)[0]
    best = int(probabilities.argmax())
    return {"label": classes[best], "probability": float(probabilities[best])}
