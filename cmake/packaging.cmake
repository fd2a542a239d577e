# Debian packages: `cpack -G DEB` in the build folder makes one package per
# install component (tests/deb_check.sh checks them and, in CI, installs them):
#   lib   -> libclnn0     the shared library (soname libclnn.so.0)
#   dev   -> libclnn-dev  header, libclnn.so link, static library, clnn.pc, CMake package
#   tools -> clnn-tools   clnn-info, clnn-tune, clnn-bench, clnn-train, clnn-net
# The install rules use relative destinations, so the packages install under
# /usr (CPack's default prefix for DEB): /usr/lib, /usr/include, /usr/bin.
set(CPACK_PACKAGE_NAME clnn)
set(CPACK_PACKAGE_VENDOR "libclnn")
set(CPACK_PACKAGE_CONTACT "libclnn maintainers <clnn@localhost>")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it before each
# component's description, whose first line is the package's synopsis.
set(CPACK_COMPONENTS_ALL lib dev tools)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # <package>_<version>_<arch>.deb

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libclnn0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_LIB_DESCRIPTION
    "neural-network primitives on OpenCL - shared library\nlibclnn runs convolution, pooling, normalization, activations, losses and optimizers, forward and backward, on any OpenCL 1.2 device, with a plain-C host reference for every op.")
# The library is useless without an OpenCL driver; PoCL runs it on the CPU.
set(CPACK_DEBIAN_LIB_PACKAGE_RECOMMENDS "pocl-opencl-icd | opencl-icd")
# A shlibs file, so that packages built against libclnn.so.0 get their
# dependency from dpkg-shlibdeps (CPack has no per-component switch for it;
# only libclnn0 holds a shared library). CPack adds the ldconfig calls to
# postinst and postrm for a library in /usr/lib.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libclnn-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "neural-network primitives on OpenCL - development files\nThe header clnn.h, the static library, the pkg-config file clnn.pc and the CMake package (find_package(clnn): clnn::clnn, clnn::clnn_static).")
# clnn.h includes CL/cl.h; clnn.pc requires OpenCL (and clblast for static
# links); clnnConfig.cmake finds OpenCL and CLBlast; the static library
# links libclblast.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libclnn0 (= ${PROJECT_VERSION}), ocl-icd-opencl-dev | opencl-dev, libclblast-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "pkg-config, cmake")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME clnn-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION science)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "neural-network primitives on OpenCL - command-line tools\nclnn-info lists the OpenCL devices, clnn-bench checks and times ops, clnn-tune measures kernel parameters, clnn-train trains a network on Fashion-MNIST and clnn-net runs torchvision's networks.")
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "pocl-opencl-icd | opencl-icd")
set(CPACK_DEBIAN_TOOLS_PACKAGE_SUGGESTS "dataset-fashion-mnist")

# The rest of each Depends line comes from the binaries (libc6, libclblast1,
# ocl-icd-libopencl1, zlib1g, libcjson1). The tools link libclnn statically, so they
# need no libclnn0.
set(CPACK_DEBIAN_LIB_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SHLIBDEPS ON)

include(CPack)
