"""What writes docs/ and drives browsers: benchmark reports, studio latency, the bare canvas page, the wheels check.

Run each from the repository root as `python -m tools.NAME`. tools/ may import anything; bican/ never imports tools/.
"""
