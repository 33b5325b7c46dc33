# Rendered by hpcdk: installs pinned R packages into one library, skipping those already at their pins.
args <- commandArgs(trailingOnly = TRUE)
lib <- args[1]
pins <- trimws(readLines(args[2]))
pins <- pins[nzchar(pins) & !startsWith(pins, "#")]
wanted <- sub("==.*$", "", pins)
versions <- setNames(sub("^[^=]*==", "", pins), wanted)
repos <- if (args[3] == "--local-repo") paste0("file://", normalizePath(args[4], mustWork = TRUE)) else args[-(1:3)]
.libPaths(c(lib, .libPaths()))
options(warn = 1)

installed_version <- function(pkg) {
  description <- file.path(lib, pkg, "DESCRIPTION")
  if (file.exists(description)) read.dcf(description, fields = "Version")[1, 1] else NA_character_
}
at_pin <- function(pkg) {
  version <- installed_version(pkg)
  !is.na(version) && package_version(version) == package_version(versions[[pkg]])
}
is_installed <- function(pkg) nzchar(system.file(package = pkg))

available <- available.packages(repos = repos, type = "source")
current_version <- function(pkg) if (pkg %in% rownames(available)) available[pkg, "Version"] else NA_character_

hard_dependencies <- function(tarball, pkg) {
  exdir <- tempfile()
  untar(tarball, files = file.path(pkg, "DESCRIPTION"), exdir = exdir)
  description <- read.dcf(file.path(exdir, pkg, "DESCRIPTION"))
  fields <- intersect(c("Depends", "Imports", "LinkingTo"), colnames(description))
  deps <- trimws(sub("\\(.*$", "", unlist(strsplit(description[1, fields], ","))))
  setdiff(deps[nzchar(deps)], "R")
}

tarball_urls <- function(pkg, version) {
  file <- paste0(pkg, "_", version, ".tar.gz")
  contrib <- contrib.url(repos, "source")
  c(file.path(contrib, file), file.path(contrib, "Archive", pkg, file))
}

install_from_tarball <- function(pkg, version) {
  tarball <- file.path(tempdir(), paste0(pkg, "_", version, ".tar.gz"))
  for (url in tarball_urls(pkg, version)) {
    fetched <- tryCatch(download.file(url, tarball, quiet = TRUE, mode = "wb") == 0, error = function(e) FALSE, warning = function(w) FALSE)
    if (!fetched) next
    missing <- Filter(Negate(is_installed), hard_dependencies(tarball, pkg))
    if (length(missing) > 0) install.packages(missing, lib = lib, repos = repos, type = "source")
    install.packages(tarball, lib = lib, repos = NULL, type = "source")
    return(TRUE)
  }
  message(pkg, " ", version, ": the repositories offer ", if (is.na(current_version(pkg))) "no version" else current_version(pkg),
          ", and there is no tarball at ", paste(tarball_urls(pkg, version), collapse = " or "))
  FALSE
}

# FALSE when the repositories do not have the pinned version at all.
install_pin <- function(pkg) {
  version <- versions[[pkg]]
  current <- current_version(pkg)
  cat("installing ", pkg, " ", version, "\n", sep = "")
  if (is.na(current) || package_version(current) != package_version(version)) return(install_from_tarball(pkg, version))
  install.packages(pkg, lib = lib, repos = repos, type = "source")
  TRUE
}

already <- Filter(at_pin, wanted)
unavailable <- character()
for (pass in 1:2) {
  for (pkg in setdiff(Filter(Negate(at_pin), wanted), unavailable)) if (!install_pin(pkg)) unavailable <- c(unavailable, pkg)
}

wrong <- Filter(Negate(at_pin), wanted)
for (pkg in wrong) {
  version <- installed_version(pkg)
  message("hpcdk: ", pkg, ": declared ", versions[[pkg]], ", ", if (is.na(version)) "not installed" else paste("installed", version))
}
if (length(wrong) > 0) {
  message("hpcdk: ", length(wrong), " of ", length(wanted), " R packages are not at their pinned versions in ", lib)
  quit(status = 1)
}
cat("hpcdk: the R library at ", lib, " is ready: ", length(wanted) - length(already), " installed, ", length(already),
    " already at their pinned versions\n", sep = "")
