"""The eval tier runs `chatfleet eval` against real `chatfleet serve` processes (each with its built-in
simulator and local index), healthy or sabotaged."""

import pytest

pytestmark = pytest.mark.service
