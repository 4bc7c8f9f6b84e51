"""Exporting runs for deployment (ONNX, TorchScript); ``headstart.serving`` runs the exported files.

This layer sits above the estimators; nothing below it imports it.
"""

from headstart.export.writer import FORMATS, ExportResult, default_export_path, export_run

__all__ = ["FORMATS", "ExportResult", "default_export_path", "export_run"]
