"""Tasks plug their data readers, models, recipes, scores and export graphs into the shared pipeline."""

from headstart.tasks.base import (
    ExportGraph,
    Task,
    all_tasks,
    get_task,
    infer_task,
    register_task,
    resolve_task,
    task_variant,
)

__all__ = ["ExportGraph", "Task", "all_tasks", "get_task", "infer_task", "register_task", "resolve_task",
           "task_variant"]
