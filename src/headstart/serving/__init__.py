"""Running exported runs: ONNX Runtime behind ``predict --runtime onnx`` (``runtime``) and the HTTP service of
``headstart serve`` (``server``). Classification imports neither torch nor transformers here: a deployment needs
numpy, Pillow, ONNX Runtime, ``tokenizers`` and, for the service, FastAPI and uvicorn."""
