# `headstart serve` for exported runs, without PyTorch (tools/install_serve.sh; measured in docs/benchmarks.md).
#   docker build -t headstart-serve .
#   docker run -p 8000:8000 -v "$PWD/runs/my-run:/model:ro" -e HEADSTART_TOKEN=choose-one headstart-serve
# The run must be exported (`headstart export RUN`). Without HEADSTART_TOKEN the service refuses to listen on
# 0.0.0.0; add --insecure to the command to serve it open.
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tools/install_serve.sh tools/
COPY src src
RUN sh tools/install_serve.sh . && rm -rf /src
WORKDIR /
USER nobody
EXPOSE 8000
ENTRYPOINT ["headstart", "serve", "/model", "--host", "0.0.0.0", "--port", "8000"]
