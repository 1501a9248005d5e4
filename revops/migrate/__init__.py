"""The cutover: a pure plan (plan.py), one executor that changes the host (executor.py),
convergence after a crash (resume.py) and the quick wins of the fix plan (quick_wins.py)."""
