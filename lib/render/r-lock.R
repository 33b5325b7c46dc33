# Rendered by hpcdk: prints an R library's packages (name==version) and what each requires.
lib <- commandArgs(trailingOnly = TRUE)[1]
installed <- installed.packages(lib.loc = lib, noCache = TRUE)
order <- sort(rownames(installed), method = "radix")
for (pkg in order) cat(pkg, "==", installed[pkg, "Version"], "\n", sep = "")
for (pkg in order) {
  fields <- installed[pkg, c("Depends", "Imports", "LinkingTo")]
  deps <- trimws(sub("\\(.*$", "", unlist(strsplit(fields[!is.na(fields)], ","))))
  deps <- sort(unique(setdiff(deps[nzchar(deps)], "R")), method = "radix")
  cat("# requires ", pkg, ":", if (length(deps) > 0) paste0(" ", deps, collapse = ""), "\n", sep = "")
}
