"""The reminder worker: APScheduler jobs that deliver what the reminder rows say."""
