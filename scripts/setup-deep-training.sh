#!/usr/bin/env bash
# Installs what local deep training needs: Debian's PyTorch and torchvision for /usr/bin/python3,
# which the local SageMaker stand-in runs sagemaker/training/train.py with. Does nothing when
# both already import. Needs root or sudo for apt-get.
set -euo pipefail

PYTHON=/usr/bin/python3

if "$PYTHON" -c 'import torch, torchvision' 2>/dev/null; then
  echo "setup-deep-training: torch and torchvision already import in $PYTHON; nothing to install."
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo)
else
  echo "setup-deep-training: installing python3-torch needs root. Run this script as root, or install sudo." >&2
  exit 1
fi

echo "setup-deep-training: installing python3-torch and python3-torchvision with apt-get."
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-torchvision

"$PYTHON" -c 'import torch, torchvision; print(f"setup-deep-training: torch {torch.__version__}, torchvision {torchvision.__version__} installed.")'
