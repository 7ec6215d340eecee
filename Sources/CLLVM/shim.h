// LLVM 14's C API, as used by KilnCodegen. Headers come from /usr/lib/llvm-14/include
// (Debian's llvm-14-dev), passed with -Xcc -I in Package.swift.
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>  // temporary metadata nodes, for self-referencing loop IDs
#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/OrcEE.h>            // JIT event listeners on the RTDyld object layer
#include <llvm-c/ExecutionEngine.h>  // the perf jitdump listener
#include <llvm-c/Disassembler.h>
#include <llvm-c/Transforms/PassBuilder.h>
