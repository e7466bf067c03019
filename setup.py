"""Maps the design's fixed top-level folders into one importable `chatfleet` package.

controller/ -> chatfleet.controller, services/chat/ -> chatfleet.chat, loadtests/ -> chatfleet.loadtests,
so code reads as `chatfleet.<part>` while the repository keeps the layout of docs/architecture.md.
"""

from setuptools import find_namespace_packages, setup

PACKAGE_DIRS = {
    "chatfleet": "chatfleet",
    "chatfleet.controller": "controller",
    "chatfleet.chat": "services/chat",
    "chatfleet.loadtests": "loadtests",
    # Data only (no modules): the two-tenant sample corpus, so an installed service (the chat image) can
    # ingest it into a pod's local index when an app declares no documents.
    "chatfleet.sample_corpus": "examples/corpus",
}

# Namespace discovery: data folders without an __init__.py (loadtests/data, chat/guards/data, the corpus's
# tenant folders) are packages of their own to setuptools, which warns about any it is not told of.
packages = []
for package, folder in PACKAGE_DIRS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"])]

setup(
    packages=packages,
    package_dir=PACKAGE_DIRS,
    package_data={
        "": ["*.html", "*.js", "*.css", "*.yaml", "*.json", "*.md", "*.txt", "*.jsonl", "*.svg", "data/*"],
    },
    include_package_data=True,
)
