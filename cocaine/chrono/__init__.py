"""
The chrono service: Cocaine 0.12's timers on the reactor's clock.
"""
