"""
Unicorn: Cocaine 0.12's configuration service, on a coordination engine.
"""
