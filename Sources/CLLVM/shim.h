// LLVM 14's C API for KilnCodegen (Debian/Ubuntu: apt-get install llvm-14-dev).
// The headers live in /usr/lib/llvm-14/include, passed to every importing target with
// `-Xcc -I/usr/lib/llvm-14/include` (Package.swift, llvmFlags). The whole include directory
// is needed, not only llvm-c/: Target.h includes llvm/Config/llvm-config.h.
#include <llvm-c/Core.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Error.h>
#include <llvm-c/IRReader.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Disassembler.h>
#include <llvm-c/Transforms/PassBuilder.h>
