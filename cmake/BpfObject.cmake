# sluice_bpf_object(NAME SOURCES a.bpf.c b.bpf.c ... [INCLUDES dir ...])
#
# Compiles each BPF C file with `clang -target bpf -g -O2` (one hook family per file), links them
# into one object with `bpftool gen object` (maps shared through __weak definitions), and generates
# `<NAME>.skel.h` with `bpftool gen skeleton`. Creates an INTERFACE target `<NAME>_skel` that puts
# the skeleton on the include path (as "sluice/<NAME>.skel.h") and links libbpf.

find_program(SLUICE_CLANG NAMES clang clang-14 REQUIRED)
find_program(SLUICE_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

function(sluice_bpf_object name)
  cmake_parse_arguments(B "" "" "SOURCES;INCLUDES;DEPENDS" ${ARGN})
  set(gen_dir ${CMAKE_BINARY_DIR}/gen)
  set(obj_dir ${CMAKE_CURRENT_BINARY_DIR}/${name}.objs)
  file(MAKE_DIRECTORY ${gen_dir}/sluice ${obj_dir})

  set(arch_define -D__TARGET_ARCH_x86)
  set(inc_flags)
  foreach(inc ${B_INCLUDES})
    list(APPEND inc_flags -I${inc})
  endforeach()

  set(objs)
  foreach(src ${B_SOURCES})
    get_filename_component(base ${src} NAME_WE)
    get_filename_component(abs ${src} ABSOLUTE)
    set(obj ${obj_dir}/${base}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${SLUICE_CLANG} -g -O2 -target bpf ${arch_define} -Wall -Werror
              -Wno-unused-function ${inc_flags} -c ${abs} -o ${obj}
      DEPENDS ${abs} ${B_DEPENDS}
      IMPLICIT_DEPENDS C ${abs}
      COMMENT "BPF ${base}.bpf.c"
      VERBATIM)
    list(APPEND objs ${obj})
  endforeach()

  set(linked ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${gen_dir}/sluice/${name}.skel.h)
  add_custom_command(
    OUTPUT ${linked}
    COMMAND ${SLUICE_BPFTOOL} gen object ${linked} ${objs}
    DEPENDS ${objs}
    COMMENT "BPF link ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${SLUICE_BPFTOOL} gen skeleton ${linked} name ${name} > ${skel}
    DEPENDS ${linked}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})

  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${gen_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
