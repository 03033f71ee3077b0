"""
Event drivers: sources of jobs declared in an app's manifest (timers,
cron, filesystem monitor, servers). C{drivers/} holds the thin plugins.
"""
