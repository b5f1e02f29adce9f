"""core.telemetry"""
