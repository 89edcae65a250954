using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Introspection;

/// <summary>A QEMU binary as the user named it and as it really is on disk (symbolic links resolved).</summary>
public sealed record QemuBinary(string Requested, string Path)
{
    /// <summary>Resolves a binary name (looked up on PATH) or path.</summary>
    /// <exception cref="QemuBinaryNotFoundException">Nothing executable by that name.</exception>
    public static QemuBinary Resolve(string nameOrPath)
    {
        if (string.IsNullOrWhiteSpace(nameOrPath))
        {
            throw new QemuBinaryNotFoundException(nameOrPath ?? string.Empty, "no binary was named");
        }

        var found = ExecutableSearch.Find(nameOrPath)
            ?? throw new QemuBinaryNotFoundException(nameOrPath, nameOrPath.Contains('/', StringComparison.Ordinal)
                ? $"'{nameOrPath}' does not exist or is not executable"
                : $"'{nameOrPath}' is not on PATH");
        var target = File.ResolveLinkTarget(found, returnFinalTarget: true)?.FullName ?? found;
        return new QemuBinary(nameOrPath, System.IO.Path.GetFullPath(target));
    }
}
