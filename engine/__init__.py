"""Workflow runtime services (no Flask here): repository, runtime, tasks, org, calendar, scripting, history."""
