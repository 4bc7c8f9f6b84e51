"""Exporting runs for deployment (ONNX, TorchScript) and running them with ONNX Runtime.

This layer sits above models and tasks; nothing below it imports it.
"""

from headstart.export.writer import FORMATS, ExportResult, export_run

__all__ = ["FORMATS", "ExportResult", "export_run"]
