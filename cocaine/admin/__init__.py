"""
The operator's web dashboard: the page, its JSON API and live updates.
"""
