package agentconfig

import "strings"

// hijackingNames are environment variables that take over a process (or the programs it
// starts) when set: the dynamic loader, shells, language runtimes' start-up hooks and
// search paths. In env mode a secret's keys become variable names at run time, so neither
// the injector (prefixes, at admission) nor the agent (every name, before the app starts)
// lets a secret set one of these.
var hijackingNames = map[string]bool{
	"PATH": true, "HOME": true, "SHELL": true, "IFS": true, "CDPATH": true, "ENV": true,
	"BASH_ENV": true, "PS4": true, "PROMPT_COMMAND": true, "SHELLOPTS": true, "BASHOPTS": true,
	"GCONV_PATH": true, "GLIBC_TUNABLES": true, "LOCPATH": true, "NLSPATH": true,
	"HOSTALIASES": true, "RESOLV_HOST_CONF": true, "MALLOC_CHECK_": true,
	"NODE_OPTIONS": true, "NODE_PATH": true,
	"PYTHONPATH": true, "PYTHONSTARTUP": true, "PYTHONHOME": true, "PYTHONINSPECT": true,
	"PYTHONWARNINGS": true, "PYTHONBREAKPOINT": true,
	"PERL5OPT": true, "PERL5LIB": true, "PERLLIB": true, "PERL5DB": true,
	"RUBYOPT": true, "RUBYLIB": true,
	"JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true,
	"DOTNET_STARTUP_HOOKS": true,
	"GODEBUG":              true,
	EnvVar:                 true, // the agent's own configuration
}

// hijackingPrefixes start families of such variables (LD_PRELOAD, LD_LIBRARY_PATH, ...,
// macOS's DYLD_*, bash's exported functions, .NET's profiler hooks).
var hijackingPrefixes = []string{"LD_", "DYLD_", "BASH_FUNC_", "CORECLR_", "COR_"}

// HijackingEnvName reports whether setting the environment variable name can take over
// the process that gets it (LD_PRELOAD, PATH, BASH_ENV, NODE_OPTIONS, ...). Case is
// ignored: the agent upper-cases the names it makes.
func HijackingEnvName(name string) bool {
	u := strings.ToUpper(name)
	if hijackingNames[u] {
		return true
	}
	for _, p := range hijackingPrefixes {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// HijackingEnvPrefix reports whether every variable named prefix+KEY would hijack the
// process (the prefix starts with LD_ and the like). An empty prefix is not reported here:
// callers refuse it on its own, as it lets a secret's keys name any variable.
func HijackingEnvPrefix(prefix string) bool {
	u := strings.ToUpper(prefix)
	for _, p := range hijackingPrefixes {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}
