pytest_plugins = ["gandan.shared.testing"]
