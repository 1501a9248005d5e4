"""Building the images of the generated stack, air-gapped (`revops build`, migrate's preflight).

Plan first (plan.py: which suites, which images), then execute per suite (images.py):
1. fill the wheelhouse from the suite's lock (`pip download` with hashes, on the host);
2. stage compose/<suite>/.stage (the lock, the locked wheels, each service's code);
3. build each service's target of compose/<suite>/Dockerfile through the docker SDK, no index.
An image whose tag exists and whose `revops.context` label matches the staged inputs is reused.
"""
