#!/usr/bin/env bash
# cibuildwheel's before-all step: the CUDA compiler and static runtime inside the manylinux_2_28
# image (AlmaLinux 8), from NVIDIA's RHEL 8 package repository. Version: CUDA_VERSION (default 13-0).
set -euo pipefail
v="${CUDA_VERSION:-13-0}"
dnf install -y dnf-plugins-core
dnf config-manager --add-repo https://developer.download.nvidia.com/compute/cuda/repos/rhel8/x86_64/cuda-rhel8.repo
dnf install -y "cuda-nvcc-$v" "cuda-cudart-devel-$v"
ln -sfn "/usr/local/cuda-${v/-/.}" /usr/local/cuda
/usr/local/cuda/bin/nvcc --version
