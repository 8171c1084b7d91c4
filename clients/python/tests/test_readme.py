import os
import re
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class ReadmeTests(unittest.TestCase):
    def test_the_readme_shows_the_whole_tiny_scheduler_in_under_60_lines(self):
        with open(os.path.join(HERE, "..", "README.md")) as readme, \
                open(os.path.join(HERE, "..", "examples", "tiny_scheduler.py")) as example:
            shown = re.search(r"```python\n(#!.*?)```", readme.read(), re.S).group(1)
            source = example.read()
        self.assertEqual(shown, source, "copy examples/tiny_scheduler.py into the README")
        self.assertLess(len(source.splitlines()), 60)


if __name__ == "__main__":
    unittest.main()
