"""In-memory fakes of the DynamoDB adapters, for the unit tests. Each passes the same contract
suite as its adapter (tests/integration/test_*_contract.py), so fake and real cannot drift. The
rules both need live in the areas' `domain.py`; a fake holds state, not rules."""
