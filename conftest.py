pytest_plugins = ["gandan.testing"]
