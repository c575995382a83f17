# cmake --install: headers, the libraries, the repokit command, and a CMake package.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(repokit_targets repokit_retry repokit_core repokit_repositories repokit_testing repokit_repokit)
install(TARGETS ${repokit_targets} EXPORT repokitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET repokit_prometheus)
  # Its own export set: the package loads it, and finds prometheus-cpp, only where it was built.
  install(TARGETS repokit_prometheus EXPORT repokitPrometheusTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/prometheus/include/
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
endif()
if(TARGET repokit_cli)
  install(TARGETS repokit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/retry/include/ ${PROJECT_SOURCE_DIR}/include/
                  ${PROJECT_SOURCE_DIR}/repositories/include/ ${PROJECT_SOURCE_DIR}/testing/include/
                  ${PROJECT_BINARY_DIR}/generated/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/repokit)
install(EXPORT repokitTargets NAMESPACE repokit:: DESTINATION ${config_dir})
if(TARGET repokit_prometheus)
  install(EXPORT repokitPrometheusTargets NAMESPACE repokit:: DESTINATION ${config_dir})
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/repokitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/repokitConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/repokitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/repokitConfig.cmake
              ${PROJECT_BINARY_DIR}/repokitConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindSOCI.cmake
  DESTINATION ${config_dir})
