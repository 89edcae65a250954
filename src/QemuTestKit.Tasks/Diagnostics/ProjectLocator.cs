using System.Xml;
using System.Xml.Linq;
using QemuTestKit.Tasks.Items;

namespace QemuTestKit.Tasks.Diagnostics;

/// <summary>
/// Finds where an item is written in its project file, so that errors point at the line (and at the metadata's
/// attribute or element when it is there). Items whose Include is computed (properties, wildcards) or that live in a file
/// that cannot be read get no line: the error still names the file and the item.
/// </summary>
internal sealed class ProjectLocator
{
    private readonly Dictionary<string, XDocument?> _documents = new(StringComparer.Ordinal);

    /// <summary>The 1-based line and column of the metadata (or else the item element), or (0, 0) when not found.</summary>
    public (int Line, int Column) Find(ItemRef item, string metadata)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (Load(item.DefiningFile) is not { } document)
        {
            return (0, 0);
        }

        var include = Slashes(item.Include);
        var element = document.Descendants()
            .Where(e => e.Name.LocalName == item.ItemType && string.Equals(Slashes(((string?)e.Attribute("Include"))?.Trim()), include, StringComparison.Ordinal))
            .Skip(item.Occurrence)
            .FirstOrDefault();
        if (element is null)
        {
            return (0, 0);
        }

        IXmlLineInfo target = element;
        if (metadata != ItemTypes.Include)
        {
            var named = (IXmlLineInfo?)element.Attributes().FirstOrDefault(a => string.Equals(a.Name.LocalName, metadata, StringComparison.OrdinalIgnoreCase))
                ?? element.Elements().FirstOrDefault(e => string.Equals(e.Name.LocalName, metadata, StringComparison.OrdinalIgnoreCase));
            target = named ?? target;
        }
        else if (element.Attribute("Include") is { } attribute)
        {
            target = attribute;
        }

        return target.HasLineInfo() ? (target.LineNumber, target.LinePosition) : (0, 0);
    }

    // MSBuild on Unix reads '\' in an Include as '/'.
    private static string? Slashes(string? path) => path?.Replace('\\', '/');

    private XDocument? Load(string file)
    {
        if (!_documents.TryGetValue(file, out var document))
        {
            try
            {
                document = XDocument.Load(file, LoadOptions.SetLineInfo);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or XmlException)
            {
                document = null;
            }

            _documents[file] = document;
        }

        return document;
    }
}
