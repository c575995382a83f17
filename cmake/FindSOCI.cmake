# Finds SOCI where it ships without a CMake package (Debian's libsoci-dev): headers, soci_core
# and the backends named as components. Defines SOCI::soci_core and SOCI::soci_<backend>, the
# names upstream's own package exports, so a source-built SOCI found in CONFIG mode works alike.
include(FindPackageHandleStandardArgs)

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)

if(SOCI_INCLUDE_DIR AND EXISTS "${SOCI_INCLUDE_DIR}/soci/version.h")
  file(STRINGS "${SOCI_INCLUDE_DIR}/soci/version.h" _soci_version_line
       REGEX "^#define SOCI_VERSION [0-9]+")
  string(REGEX REPLACE "^#define SOCI_VERSION ([0-9]+).*" "\\1" _soci_version_number
         "${_soci_version_line}")
  math(EXPR _soci_major "${_soci_version_number} / 100000")
  math(EXPR _soci_minor "${_soci_version_number} / 100 % 1000")
  math(EXPR _soci_patch "${_soci_version_number} % 100")
  set(SOCI_VERSION "${_soci_major}.${_soci_minor}.${_soci_patch}")
endif()

# Each backend also needs its client library's headers, which Debian keeps in subfolders.
set(_soci_sqlite3_client_header sqlite3.h)
set(_soci_postgresql_client_header libpq-fe.h)
set(_soci_postgresql_client_suffixes postgresql)
set(_soci_mysql_client_header mysql.h)
set(_soci_mysql_client_suffixes mariadb mysql)
set(_soci_sqlite3_client_library sqlite3)
set(_soci_postgresql_client_library pq)
set(_soci_mysql_client_library mariadb mysqlclient)

foreach(_component IN LISTS SOCI_FIND_COMPONENTS)
  find_library(SOCI_${_component}_LIBRARY NAMES soci_${_component})
  find_path(SOCI_${_component}_CLIENT_INCLUDE_DIR NAMES ${_soci_${_component}_client_header}
            PATH_SUFFIXES ${_soci_${_component}_client_suffixes})
  find_library(SOCI_${_component}_CLIENT_LIBRARY NAMES ${_soci_${_component}_client_library})
  if(SOCI_${_component}_LIBRARY AND SOCI_${_component}_CLIENT_INCLUDE_DIR
     AND SOCI_${_component}_CLIENT_LIBRARY)
    set(SOCI_${_component}_FOUND TRUE)
  else()
    set(SOCI_${_component}_FOUND FALSE)
  endif()
endforeach()

find_package_handle_standard_args(SOCI
  REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_INCLUDE_DIR
  VERSION_VAR SOCI_VERSION
  HANDLE_COMPONENTS)

if(SOCI_FOUND AND NOT TARGET SOCI::soci_core)
  add_library(SOCI::soci_core UNKNOWN IMPORTED)
  set_target_properties(SOCI::soci_core PROPERTIES
    IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
endif()

foreach(_component IN LISTS SOCI_FIND_COMPONENTS)
  if(SOCI_${_component}_FOUND AND NOT TARGET SOCI::soci_${_component})
    add_library(SOCI::soci_${_component} UNKNOWN IMPORTED)
    set_target_properties(SOCI::soci_${_component} PROPERTIES
      IMPORTED_LOCATION "${SOCI_${_component}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SOCI_${_component}_CLIENT_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "SOCI::soci_core;${SOCI_${_component}_CLIENT_LIBRARY}")
  endif()
endforeach()

mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY)
