import pytest

# helpers.py asserts on the tests' behalf: give it pytest's detailed assertion messages too.
pytest.register_assert_rewrite("tests.platforms.helpers")
