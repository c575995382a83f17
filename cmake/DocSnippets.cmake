# Compiles every ```cpp block of the given Markdown files, so the docs cannot drift from the
# code: repokit_doc_snippets is an object library built with everything else.
function(repokit_compile_doc_snippets)
  set(snippet_dir "${PROJECT_BINARY_DIR}/doc_snippets")
  file(REMOVE_RECURSE "${snippet_dir}")
  file(MAKE_DIRECTORY "${snippet_dir}")
  set(snippets "")
  foreach(doc IN LISTS ARGN)
    get_filename_component(stem "${doc}" NAME_WE)
    execute_process(
      COMMAND awk -v dir=${snippet_dir} -v stem=${stem} -v source=${doc}
              -f ${PROJECT_SOURCE_DIR}/cmake/extract_snippets.awk ${doc}
      OUTPUT_VARIABLE written RESULT_VARIABLE failed)
    if(failed)
      message(FATAL_ERROR "could not extract the code blocks of ${doc}")
    endif()
    list(APPEND snippets ${written})
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${doc}")
  endforeach()
  if(snippets)
    add_library(repokit_doc_snippets OBJECT ${snippets})
    # SOCI too: migration.md shows the hand-written SOCI code that repokit replaces.
    target_link_libraries(repokit_doc_snippets PRIVATE repokit::repokit repokit_warnings
                                                       SOCI::soci_core)
    # Snippets show one idea each: helpers they define need not all be called.
    target_compile_options(repokit_doc_snippets PRIVATE -Wno-unused-function -Wno-unused-variable)
  endif()
endfunction()
