"The tests import `scaleattn_nb` from this checkout (first on sys.path), whichever copy the environment has installed."
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
