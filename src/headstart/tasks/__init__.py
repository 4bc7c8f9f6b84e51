"""Tasks plug their data readers and input encoding into the shared pipeline."""

from headstart.tasks.base import Task, get_task, register_task

__all__ = ["Task", "get_task", "register_task"]
