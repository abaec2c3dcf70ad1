"""The job conformance kit behind :func:`resumable.testing.check_job`.

``_kit`` runs the scenarios from the test process; ``_child`` is the process each run
of a job happens in (``python -m resumable._conformance._child SPEC``), killed for real
where a scenario says so; ``_events`` is the JSON-lines file through which a child tells
the kit what the job did; ``_scenarios`` judges those events; ``_report`` prints them.
"""
